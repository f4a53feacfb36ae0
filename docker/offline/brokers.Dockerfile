# RabbitMQ and Redis from Debian's packages: the stand-ins compose.offline.yaml runs where Docker Hub's
# images cannot be pulled. One image for both saves a build; each service runs one of them.
ARG BASE_IMAGE=local/debian:bookworm
FROM ${BASE_IMAGE}
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      rabbitmq-server redis-server >/dev/null \
 && rm -rf /var/lib/apt/lists/*
# As the upstream image: guest may log in from outside the container, the management UI is on,
# and the log goes to the console (so `docker logs` and lab.logs show it).
COPY docker/offline/rabbitmq.conf /etc/rabbitmq/rabbitmq.conf
RUN echo '[rabbitmq_management].' >/etc/rabbitmq/enabled_plugins \
 && : >/etc/rabbitmq/rabbitmq-env.conf
