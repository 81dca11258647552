<?php
/*
 * The hosted SAML 2.0 IdP. Copied into RUN/metadata/; reads
 * RUN/config/settings.json (see tests/peers/saml/README.md).
 */

$settings = json_decode(
    (string) file_get_contents(getenv('SIMPLESAMLPHP_CONFIG_DIR') . '/settings.json'),
    true
);
$run = rtrim($settings['run_dir'], '/');

$persistent = 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent';

$idp = [
    'host' => '__DEFAULT__',
    'privatekey' => $run . '/cert/idp.key',
    'certificate' => $run . '/cert/idp.crt',
    'auth' => 'users',

    // Which element carries the enveloped signature: the Response, the
    // Assertion, or both (SimpleSAMLphp's default is both).
    'saml20.sign.response' => (bool) ($settings['sign_response'] ?? true),
    'saml20.sign.assertion' => (bool) ($settings['sign_assertion'] ?? true),
    'signature.algorithm' => $settings['signature_algorithm']
        ?? 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
    // Sign LogoutRequest / LogoutResponse too, as Keycloak does (on the
    // HTTP-Redirect binding that is the query-string signature).
    'sign.logout' => (bool) ($settings['sign_logout'] ?? true),

    'assertion.lifetime' => (int) ($settings['assertion_lifetime'] ?? 300),
    'NameIDFormat' => $persistent,
    'attributes.NameFormat' => 'urn:oasis:names:tc:SAML:2.0:attrname-format:basic',

    'SingleSignOnServiceBinding' => [
        'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect',
        'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST',
    ],
    'SingleLogoutServiceBinding' => [
        'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect',
        'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST',
    ],

    'authproc' => [
        // The user's persistent_id attribute becomes the persistent NameID...
        10 => [
            'class' => 'saml:AttributeNameID',
            'attribute' => 'persistent_id',
            'Format' => $persistent,
            // Keycloak sends no SPNameQualifier / NameQualifier either.
            'SPNameQualifier' => false,
        ],
        // ... and is not sent as an attribute.
        20 => [
            'class' => 'core:AttributeAlter',
            'subject' => 'persistent_id',
            'pattern' => '/.*/',
            '%remove',
        ],
    ],
];

foreach ($settings['idp_extra'] ?? [] as $key => $value) {
    $idp[$key] = $value;
}

$metadata[$settings['entity_id']] = $idp;
