-- What the SIP edge (kamailio/edge.cfg) authenticates phones against: every extension
-- as <number>@<tenant SIP domain> with its SIP digest, read live from ringbridge's
-- tables, so an extension made, changed or deleted through any node counts at once.
-- Run by scripts/cluster as the database's owner after ringbridge's migrations;
-- `version` is Kamailio's own check of the table's layout (auth_db's subscriber: 7).
CREATE SCHEMA IF NOT EXISTS kamailio;
CREATE TABLE IF NOT EXISTS kamailio.version (
    table_name VARCHAR(32) PRIMARY KEY,
    table_version INTEGER NOT NULL DEFAULT 0
);
INSERT INTO kamailio.version VALUES ('subscriber', 7) ON CONFLICT DO NOTHING;
-- The edge sees each password only as its digest hash (HA1, the realm being the tenant's
-- domain), never the password itself.
DROP VIEW IF EXISTS kamailio.subscriber;
CREATE VIEW kamailio.subscriber AS
    SELECT extensions.extension_number AS username,
           tenants.sip_domain AS domain,
           md5(extensions.extension_number || ':' || tenants.sip_domain || ':'
               || extensions.sip_password) AS ha1
    FROM public.extensions JOIN public.tenants ON tenants.id = extensions.tenant_id;
