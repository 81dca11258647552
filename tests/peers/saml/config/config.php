<?php
/*
 * SimpleSAMLphp 1.19 global configuration for the Sekisho test IdP.
 *
 * Copied into a per-run directory RUN/config/ (SIMPLESAMLPHP_CONFIG_DIR) next
 * to RUN/config/settings.json, which the harness (tests/common/saml_idp.rs) or
 * run.sh writes. Everything that varies per run comes from settings.json; see
 * tests/peers/saml/README.md for its keys.
 */

$settingsFile = __DIR__ . '/settings.json';
$settings = json_decode((string) file_get_contents($settingsFile), true);
if (!is_array($settings)) {
    throw new \Exception("cannot read $settingsFile");
}
$run = rtrim($settings['run_dir'], '/');

$levels = [
    'error' => SimpleSAML\Logger::ERR,
    'warning' => SimpleSAML\Logger::WARNING,
    'notice' => SimpleSAML\Logger::NOTICE,
    'info' => SimpleSAML\Logger::INFO,
    'debug' => SimpleSAML\Logger::DEBUG,
];

$config = [
    // Full URL: the IdP then never guesses its own address from Host headers.
    'baseurlpath' => $settings['base_url'],
    'certdir' => $run . '/cert/',
    'loggingdir' => $run . '/log/',
    'datadir' => $run . '/data/',
    'tempdir' => $run . '/tmp',
    'metadatadir' => $run . '/metadata/',

    'secretsalt' => 'sekisho-test-idp-salt-not-secret',
    'auth.adminpassword' => 'admin-password',
    'admin.protectindexpage' => false,
    'admin.protectmetadata' => false,
    'admin.checkforupdates' => false,
    'technicalcontact_name' => 'Sekisho tests',
    'technicalcontact_email' => 'admin@example.com',
    'timezone' => 'UTC',

    // ReturnTo / RelayState URLs the IdP may redirect to: any loopback port.
    'trusted.url.domains' => ['127\\.0\\.0\\.\\d+(:\\d+)?', 'localhost(:\\d+)?', '\\[::1\\](:\\d+)?'],
    'trusted.url.regex' => true,
    'enable.http_post' => false,
    'assertion.allowed_clock_skew' => 180,

    'debug' => [
        // Logs every SAML message sent and received (at debug level).
        'saml' => true,
        'backtraces' => true,
        'validatexml' => false,
    ],
    'showerrors' => true,
    'errorreporting' => false,

    'logging.level' => $levels[$settings['log_level'] ?? 'debug'] ?? SimpleSAML\Logger::DEBUG,
    'logging.handler' => 'file',
    'logging.logfile' => 'simplesamlphp.log',
    'logging.processname' => 'saml-idp',
    'statistics.out' => [],

    'enable.saml20-idp' => true,
    'enable.shib13-idp' => false,
    'enable.adfs-idp' => false,

    'module.enable' => [
        'core' => true,
        'saml' => true,
        'exampleauth' => true,
        'admin' => true,
    ],

    'session.duration' => (int) ($settings['session_duration'] ?? 8 * 3600),
    'session.datastore.timeout' => 4 * 3600,
    'session.state.timeout' => 3600,
    'session.cookie.name' => 'SimpleSAMLSessionID',
    'session.cookie.lifetime' => 0,
    'session.cookie.path' => '/',
    'session.cookie.domain' => null,
    // Plain http on loopback: a secure cookie would never come back.
    'session.cookie.secure' => false,
    // SameSite=None needs Secure (Chromium drops it otherwise): send no
    // SameSite attribute, browsers then treat it as Lax.
    'session.cookie.samesite' => null,
    'session.phpsession.cookiename' => 'SimpleSAML',
    'session.phpsession.savepath' => $run . '/sessions',
    'session.phpsession.httponly' => true,
    'session.authtoken.cookiename' => 'SimpleSAMLAuthToken',
    'session.rememberme.enable' => false,

    'language.available' => ['en'],
    'language.default' => 'en',
    'language.cookie.secure' => false,
    'language.cookie.samesite' => null,

    'theme.use' => 'default',
    'template.auto_reload' => false,
    'production' => true,

    // Sessions live in PHP session files under RUN/sessions, shared by the
    // PHP_CLI_SERVER_WORKERS processes.
    'store.type' => 'phpsession',

    'authproc.idp' => [],
    'authproc.sp' => [],

    'metadata.sources' => [
        ['type' => 'flatfile'],
    ],
    'metadata.sign.enable' => false,
];
