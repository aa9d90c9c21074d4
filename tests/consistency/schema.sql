-- Tables of the consistency test: three published tables covering the value
-- kinds of the wire format (and NULLs), a composite text key, an excluded
-- column, and one table that is never published.
CREATE EXTENSION tablepub;

CREATE TABLE acct (
    id      int PRIMARY KEY,
    name    text,
    balance numeric(12,2),
    active  boolean,
    score   float8,
    born    date,
    seen    timestamptz,
    data    jsonb,
    blob    bytea,
    tags    text[]
);

CREATE TABLE item (
    a    int,
    b    text,
    qty  int8,
    note varchar(20),
    uid  uuid,
    at   timestamp,
    PRIMARY KEY (a, b)
);

CREATE TABLE evt (
    id      bigint PRIMARY KEY,
    payload text,
    secret  text  -- excluded from publication
);

CREATE TABLE audit (   -- never published
    id   serial PRIMARY KEY,
    note text
);

-- Rows that exist before publishing reach a subscriber only via its snapshot.
INSERT INTO acct (id, name, balance, active, score, born, seen, data, blob, tags)
SELECT g, 'n' || g, g * 1.25, g % 2 = 0, g / 7.0, DATE '2000-01-01' + g,
       TIMESTAMPTZ '2020-01-01 00:00:00+00' + g * INTERVAL '1 minute 0.5 s',
       jsonb_build_object('g', g), decode(md5(g::text), 'hex'), ARRAY['t' || g, NULL]
FROM generate_series(1, 150) g;
INSERT INTO item SELECT g % 50, 'b' || (g / 50), g, NULL, md5(g::text)::uuid, TIMESTAMP '2021-06-01' + g * INTERVAL '1 s'
FROM generate_series(1, 100) g;
INSERT INTO evt SELECT g, 'p' || g, 's' || g FROM generate_series(1, 100) g;

SELECT tablepub.publish('acct');
SELECT tablepub.publish('item');
SELECT tablepub.publish('evt', exclude_columns => '{secret}');
