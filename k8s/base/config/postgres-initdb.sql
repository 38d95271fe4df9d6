-- Runs once, on an empty data directory, as POSTGRES_USER (the database owner).
-- Idempotent whatever POSTGRES_DB is: \gexec runs the CREATE only when the database is missing.
SELECT 'CREATE DATABASE mlflow' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'mlflow')\gexec
SELECT 'CREATE DATABASE optuna' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'optuna')\gexec
-- users and permissions of MLflow's basic-auth app (base/mlflow.yaml also creates it when missing)
SELECT 'CREATE DATABASE mlflow_auth' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'mlflow_auth')\gexec
