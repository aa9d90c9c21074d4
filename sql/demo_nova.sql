-- A small Nova-like schema for `make demo` (tests/demo/run.sh): what a
-- compute service keeps in PostgreSQL and a policy engine wants a live copy
-- of. Needs the tablepub extension (CREATE EXTENSION tablepub) first.
--
-- Published: flavors, users (without password_hash), instances.
-- Not published: quota_usages (changes never leave the database).

CREATE TABLE flavors (
    id        int PRIMARY KEY,
    name      text NOT NULL UNIQUE,
    vcpus     int NOT NULL,
    memory_mb int NOT NULL,
    root_gb   int NOT NULL,
    is_public boolean NOT NULL DEFAULT true,
    extra     jsonb
);

CREATE TABLE users (
    id            uuid PRIMARY KEY,
    name          text NOT NULL,
    email         text,
    password_hash text NOT NULL,           -- excluded from publication
    enabled       boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE instances (
    uuid         uuid PRIMARY KEY,
    hostname     text NOT NULL,
    user_id      uuid NOT NULL REFERENCES users,
    flavor_id    int NOT NULL REFERENCES flavors,
    host         text,
    vm_state     text NOT NULL,           -- building, active, stopped, error
    power_state  smallint NOT NULL DEFAULT 0,
    task_state   text,                    -- NULL when idle
    launched_at  timestamptz,
    memory_mb    int NOT NULL,
    metadata     jsonb NOT NULL DEFAULT '{}'
);

CREATE TABLE quota_usages (               -- never published
    user_id  uuid NOT NULL REFERENCES users,
    resource text NOT NULL,
    in_use   int NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, resource)
);

INSERT INTO flavors VALUES
    (1, 'm1.tiny',   1,   512,   1, true,  NULL),
    (2, 'm1.small',  1,  2048,  20, true,  NULL),
    (3, 'm1.medium', 2,  4096,  40, true,  '{"hw:cpu_policy": "shared"}'),
    (4, 'm1.large',  4,  8192,  80, true,  NULL),
    (5, 'm1.xlarge', 8, 16384, 160, false, '{"hw:numa_nodes": 2}');

INSERT INTO users (id, name, email, password_hash, created_at)
SELECT md5('user' || g)::uuid, 'user' || g, CASE WHEN g % 4 <> 0 THEN 'user' || g || '@example.com' END,
       md5('secret' || g), TIMESTAMPTZ '2024-01-01 00:00:00+00' + g * INTERVAL '1 hour'
FROM generate_series(1, 20) g;

INSERT INTO quota_usages SELECT id, r, 0 FROM users, unnest(ARRAY['instances', 'cores', 'ram']) r;

INSERT INTO instances (uuid, hostname, user_id, flavor_id, host, vm_state, power_state, launched_at, memory_mb, metadata)
SELECT md5('vm' || g)::uuid, 'vm-' || g, md5('user' || (g % 20 + 1))::uuid, g % 5 + 1, 'compute-' || (g % 3),
       'active', 1, TIMESTAMPTZ '2024-06-01 00:00:00+00' + g * INTERVAL '1 minute',
       (SELECT memory_mb FROM flavors WHERE id = g % 5 + 1), jsonb_build_object('env', 'prod')
FROM generate_series(1, 200) g;

-- Nova keeps an instance's user metadata in rows of their own, written in
-- the instance's transactions (the demo's `tablepub-tail --tx` shows both
-- tables' changes as one transaction).
CREATE TABLE instance_metadata (
    instance_uuid uuid NOT NULL REFERENCES instances ON DELETE CASCADE,
    key           text NOT NULL,
    value         text,
    PRIMARY KEY (instance_uuid, key)
);
INSERT INTO instance_metadata SELECT uuid, 'role', (ARRAY['web', 'db', 'cache'])[1 + abs(hashtext(hostname)) % 3]
FROM instances;

SELECT tablepub.publish('flavors');
SELECT tablepub.publish('users', exclude_columns => '{password_hash}');
SELECT tablepub.publish('instances');
SELECT tablepub.publish('instance_metadata');
