<?php
/*
 * Router for PHP's built-in web server, serving SimpleSAMLphp's www/ under
 * /simplesaml/ the way Apache's `Alias /simplesaml /usr/share/simplesamlphp/www`
 * would:
 *
 *   SIMPLESAMLPHP_CONFIG_DIR=RUN/config php -S 127.0.0.1:PORT tests/peers/saml/router.php
 *
 * /simplesaml/<dir>/<script>.php/<path info>?<query> runs that script with
 * SCRIPT_NAME, SCRIPT_FILENAME, PATH_INFO and PHP_SELF set as a CGI server
 * would, from the script's own directory (SimpleSAMLphp's scripts include
 * '../../_include.php' relative to the working directory). Other files under
 * www/ are served as static files; anything else is a 404.
 *
 * Each request is logged on stderr as "saml-idp: STATUS METHOD URI".
 *
 * SAML_IDP_WWW overrides the www/ directory (default /usr/share/simplesamlphp/www).
 */

// One line per request on stderr, after the response: "saml-idp: 302 GET /simplesaml/...".
// (php -S with workers logs only "Accepted"/"Closing".) Query strings are cut at 200 bytes.
register_shutdown_function(function () {
    $uri = $_SERVER['REQUEST_URI'] ?? '';
    if (strlen($uri) > 200) {
        $uri = substr($uri, 0, 200) . '...';
    }
    $line = sprintf("saml-idp: %d %s %s\n", http_response_code() ?: 200, $_SERVER['REQUEST_METHOD'] ?? '-', $uri);
    $err = fopen('php://stderr', 'w');
    fwrite($err, $line);
    fclose($err);
});

$www = rtrim(getenv('SAML_IDP_WWW') ?: '/usr/share/simplesamlphp/www', '/');
$prefix = '/simplesaml';

$path = rawurldecode((string) parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH));

if ($path === '/' || $path === $prefix) {
    header('Location: ' . $prefix . '/', true, 302);
    return true;
}
if (strpos($path, $prefix . '/') !== 0 || strpos($path, "\0") !== false) {
    http_response_code(404);
    header('Content-Type: text/plain');
    echo "not found\n";
    return true;
}

$rel = substr($path, strlen($prefix)); // "/saml2/idp/SSOService.php", "/module.php/core/...", "/"
$segments = explode('/', ltrim($rel, '/'));

// The first segment ending in .php that is a file is the script; the rest is PATH_INFO.
$script = null;
$pathInfo = '';
$acc = '';
foreach ($segments as $i => $segment) {
    if ($segment === '..' || $segment === '.') {
        break;
    }
    $acc .= '/' . $segment;
    if (substr($segment, -4) === '.php' && is_file($www . $acc)) {
        $script = $acc;
        $rest = array_slice($segments, $i + 1);
        $pathInfo = count($rest) > 0 ? '/' . implode('/', $rest) : '';
        break;
    }
}
// A directory: its index.php.
if ($script === null && is_dir($www . $rel) && is_file($www . rtrim($rel, '/') . '/index.php')) {
    if (substr($rel, -1) !== '/') {
        header('Location: ' . $prefix . $rel . '/', true, 301);
        return true;
    }
    $script = rtrim($rel, '/') . '/index.php';
}

if ($script === null) {
    // A static file, strictly inside www/.
    $file = realpath($www . $rel);
    if ($file === false || strpos($file, $www . '/') !== 0 || !is_file($file)) {
        http_response_code(404);
        header('Content-Type: text/plain');
        echo "not found\n";
        return true;
    }
    $types = [
        'css' => 'text/css', 'js' => 'application/javascript', 'png' => 'image/png',
        'gif' => 'image/gif', 'jpg' => 'image/jpeg', 'svg' => 'image/svg+xml',
        'ico' => 'image/x-icon', 'html' => 'text/html', 'txt' => 'text/plain',
        'woff' => 'font/woff', 'woff2' => 'font/woff2', 'ttf' => 'font/ttf',
    ];
    $ext = strtolower(pathinfo($file, PATHINFO_EXTENSION));
    header('Content-Type: ' . ($types[$ext] ?? 'application/octet-stream'));
    header('Content-Length: ' . filesize($file));
    readfile($file);
    return true;
}

$file = $www . $script;
$_SERVER['SCRIPT_NAME'] = $prefix . $script;
$_SERVER['SCRIPT_FILENAME'] = $file;
$_SERVER['PHP_SELF'] = $prefix . $script . $pathInfo;
if ($pathInfo !== '') {
    $_SERVER['PATH_INFO'] = $pathInfo;
} else {
    unset($_SERVER['PATH_INFO']);
}
chdir(dirname($file));
require $file;
return true;
