-- Runs once, when the PostgreSQL volume is new: one database per service. The migration job
-- (python -m deploy.migrate) creates any that are missing as well, so this only saves it the work.
CREATE DATABASE fmf_registration;
CREATE DATABASE fmf_matching;
CREATE DATABASE fmf_notification;
CREATE DATABASE fmf_reporting;
