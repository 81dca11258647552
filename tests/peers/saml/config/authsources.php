<?php
/*
 * Authentication sources of the Sekisho test IdP: one exampleauth:UserPass
 * source, "users". The users are settings.json's "users" when given, else
 * alice and bob below. Attribute names follow Keycloak's SAML mappers as used
 * for GitLab / Mattermost: username, email, first_name, last_name, and groups
 * (full group paths, multi-valued). persistent_id becomes the persistent
 * NameID (Keycloak's "G-<uuid>" style) and is removed from the attributes.
 */

$settings = json_decode((string) file_get_contents(__DIR__ . '/settings.json'), true);

$defaultUsers = [
    [
        'username' => 'alice',
        'password' => 'alice-password',
        'attributes' => [
            'persistent_id' => ['G-a11ce000-0000-4000-8000-000000000001'],
            'username' => ['alice'],
            'email' => ['alice@example.com'],
            'first_name' => ['Alice'],
            'last_name' => ['Liddell'],
            'groups' => ['/admins', '/dev'],
        ],
    ],
    [
        'username' => 'bob',
        'password' => 'bob-password',
        'attributes' => [
            'persistent_id' => ['G-b0b00000-0000-4000-8000-000000000002'],
            'username' => ['bob'],
            'email' => ['bob@example.com'],
            'first_name' => ['Bob'],
            'last_name' => ['Builder'],
            'groups' => ['/dev'],
        ],
    ],
];

$users = ['exampleauth:UserPass'];
foreach ($settings['users'] ?? $defaultUsers as $user) {
    $attributes = [];
    foreach ($user['attributes'] as $name => $values) {
        $attributes[$name] = is_array($values) ? array_map('strval', $values) : [strval($values)];
    }
    $users[$user['username'] . ':' . $user['password']] = $attributes;
}

$config = [
    'admin' => ['core:AdminPassword'],
    'users' => $users,
];
