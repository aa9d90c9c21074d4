-- Tables of the transaction consistency test (tx_run.sh): invariants that
-- span tables and hold at every commit.
--   money:  sum(checking.balance) + sum(savings.balance) = 100000
--   family: parent.n_children = the number of its children
--   fk:     every child's parent exists
CREATE EXTENSION tablepub;

CREATE TABLE checking (id int PRIMARY KEY, balance bigint NOT NULL);
CREATE TABLE savings (id int PRIMARY KEY, balance bigint NOT NULL);
INSERT INTO checking SELECT g, 1000 FROM generate_series(1, 50) g;
INSERT INTO savings SELECT g, 1000 FROM generate_series(1, 50) g;

CREATE TABLE parent (id bigint PRIMARY KEY, n_children int NOT NULL);
-- A parent's deletion takes its children along in the same statement (the
-- cascade's deletes are captured like any other).
CREATE TABLE child (id bigint PRIMARY KEY, parent_id bigint NOT NULL REFERENCES parent ON DELETE CASCADE, note text);
CREATE SEQUENCE parent_ids;
CREATE SEQUENCE child_ids;
WITH p AS (INSERT INTO parent SELECT nextval('parent_ids'), 2 FROM generate_series(1, 20) RETURNING id)
INSERT INTO child SELECT nextval('child_ids'), p.id, 'initial' FROM p, generate_series(1, 2);

-- A table outside the subscriber's set, written in the same transactions.
CREATE TABLE ledger (id bigserial PRIMARY KEY, note text);

SELECT tablepub.publish('checking');
SELECT tablepub.publish('savings');
SELECT tablepub.publish('parent');
SELECT tablepub.publish('child');
SELECT tablepub.publish('ledger');
