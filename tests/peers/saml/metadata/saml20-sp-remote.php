<?php
/*
 * The service providers this IdP knows (Sekisho). Copied into RUN/metadata/;
 * reads "sps" from RUN/config/settings.json (see tests/peers/saml/README.md).
 * Re-read on every request: the harness may rewrite settings.json after start.
 */

$settings = json_decode(
    (string) file_get_contents(getenv('SIMPLESAMLPHP_CONFIG_DIR') . '/settings.json'),
    true
);

foreach ($settings['sps'] ?? [] as $sp) {
    $entry = [
        'AssertionConsumerService' => [
            [
                'Binding' => 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST',
                'Location' => $sp['acs_url'],
                'index' => 0,
            ],
        ],
        'NameIDFormat' => $sp['name_id_format']
            ?? 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent',
        'validate.authnrequest' => (bool) ($sp['validate_authnrequest'] ?? false),
        'validate.logout' => (bool) ($sp['validate_logout'] ?? false),
    ];
    if (!empty($sp['slo_url'])) {
        $entry['SingleLogoutService'] = [
            [
                'Binding' => 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect',
                'Location' => $sp['slo_url'],
            ],
        ];
    }
    if (!empty($sp['cert_pem'])) {
        // certData: the base64 DER body of the PEM, without armour or spaces.
        $entry['certData'] = preg_replace(
            '/-----(BEGIN|END) CERTIFICATE-----|\s+/',
            '',
            $sp['cert_pem']
        );
    }
    foreach ($sp['extra'] ?? [] as $key => $value) {
        $entry[$key] = $value;
    }
    $metadata[$sp['entity_id']] = $entry;
}
