<?php
// An echo script for php-fpm (Debian php8.2-fpm): php-fpm runs the file
// named by the SCRIPT_FILENAME param.
//
// The answer depends on the path of REQUEST_URI:
//   /missing  404 Not Found (php-fpm sends it as "Status: 404 Not Found")
//   /stderr   a line through error_log(), which php-fpm sends on the
//             FCGI_STDERR stream, then the echo
//   anything  the echo: "NAME=VALUE" for every string in $_SERVER (the
//             params, in the order php-fpm keeps them, plus PHP_SELF and
//             the like), a line "--", then the raw request body
//             (php://input: send a body with a Content-Type PHP does not
//             parse as a form, or it warns past 1000 form variables)

$path = parse_url($_SERVER['REQUEST_URI'] ?? '/', PHP_URL_PATH);
if ($path === '/missing') {
    http_response_code(404);
    header('Content-Type: text/plain');
    echo "no such page\n";
    exit;
}
if ($path === '/stderr') {
    error_log('php_echo: a line for the error log');
}
header('Content-Type: text/plain');
header('X-Echo-App: php-fpm');
foreach ($_SERVER as $name => $value) {
    if (is_string($value)) {
        echo "$name=$value\n";
    }
}
echo "--\n";
echo file_get_contents('php://input');
