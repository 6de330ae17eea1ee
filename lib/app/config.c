/*
 * Settings.
 */
#include <stdlib.h>
#include <string.h>

#include "app/internal.h"

void fk_config_init(fk_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->max_conns = 1024;
  cfg->max_reqs = 1024;
  cfg->max_reqs_per_conn = 64;
  cfg->multiplex = 1;
  cfg->max_params_bytes = 1u << 20;
  cfg->max_params = 4096;
  cfg->body_memory = 1u << 20;
  cfg->max_output = 256u << 10;
  cfg->io_timeout_ms = 60000;
  cfg->stop_timeout_ms = 30000;
  cfg->socket_mode = -1;
  cfg->backlog = 1024;
  cfg->handle_signals = 1;
}
