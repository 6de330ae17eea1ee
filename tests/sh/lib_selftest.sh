#!/usr/bin/env bash
# The shell test helpers test themselves (skip, fail, CI=true turning a
# missing peer into a failure, process clean-up).
exec bash "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
