# The erp-wms-sync image: Apache Airflow 3.3.2 on Python 3.11 with the erp-wms-sync package (product and
# simulators), the DAGs and the Airflow plugin. docker-compose.yaml builds it for every service.
#
# Astronomer (astro dev start / astro deploy): replace the FROM line with the Astro Runtime image that ships
# the same Airflow version, in its Python 3.11 flavour, for example
#   FROM astrocrpublic.azurecr.io/runtime:3.3-2-python-3.11
# and keep the rest of this file as it is (docs/deployment.md, "Astronomer").
FROM apache/airflow:3.3.2-python3.11

# The base image runs as the "airflow" user (uid 50000, gid 0) from AIRFLOW_HOME; the Astro Runtime image runs
# as "astro" from its own home. Relative paths and numeric ownership keep this file valid on both.

# The package first, so editing a DAG does not reinstall dependencies. constraints.txt is the project's full
# lock (pip freeze): it pins apache-airflow, the task SDK and every transitive dependency to the versions the
# base image already has, so installing the project can never up- or downgrade Airflow.
COPY --chown=50000:0 pyproject.toml constraints.txt README.md ./
COPY --chown=50000:0 include/ ./include/
RUN pip install --no-cache-dir -c constraints.txt . \
    && python -c "import erp_wms_sync, erp_wms_simulators" \
    && erp-wms-sync --help >/dev/null

COPY --chown=50000:0 dags/ ./dags/
COPY --chown=50000:0 plugins/ ./plugins/

# Mount points of docker-compose.yaml's named volumes: created here so the volumes belong to the image user.
RUN mkdir -p logs auth

# The DAG files read the integration YAMLs from here (include/ is copied above and mounted by docker-compose.yaml).
ENV ERP_WMS_INTEGRATIONS_DIR=${AIRFLOW_HOME}/include/integrations
