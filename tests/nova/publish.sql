-- The tables of a Nova cell database (nova) a policy engine wants, as the
-- Nova test (tests/nova/run.sh) and docs/openstack.md publish them. One
-- publish() a line: run.sh reads the table names from these lines.
--
-- Left out on purpose: instances.user_data (cloud-init payloads carry
-- passwords and keys) and block_device_mapping.connection_info (storage
-- credentials such as iSCSI CHAP secrets). Not published at all:
-- console_auth_tokens, instance_info_caches, instance_extra,
-- instance_actions(_events), security_group*, quota_usages, reservations,
-- the shadow_* archive tables and everything else (docs/openstack.md says
-- why).
SELECT tablepub.publish('public.instances', exclude_columns => '{user_data}');
SELECT tablepub.publish('public.instance_metadata');
SELECT tablepub.publish('public.instance_system_metadata');
SELECT tablepub.publish('public.instance_faults');
SELECT tablepub.publish('public.block_device_mapping', exclude_columns => '{connection_info}');
SELECT tablepub.publish('public.migrations');
SELECT tablepub.publish('public.tags');
SELECT tablepub.publish('public.compute_nodes');
SELECT tablepub.publish('public.services');
