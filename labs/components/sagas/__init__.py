"""The order saga's services for lesson 12: concerts, payments and notifications as participants, with
an orders service (choreography) or an orchestrator (orchestration), talking through one RabbitMQ topic
exchange, each keeping its state in its own SQLite file.

Layer: components. The lesson starts them as child processes (labs.lessons.sagas.Shop):

    python -m labs.components.sagas.service '<json config>'

    domain   each service's tables, starting data and actions (reserve, release, charge, refund, deliver)
    flows    who reacts to what: the choreography's event table, the orchestrator's steps and state machine
    store    one SQLite file per service: business tables + inbox (dedupe) + outbox, in one transaction
    bus      the topic exchange, queues and bindings; publish with confirms and the trace header
    service  the process: consume, handle in one transaction, publish (outbox or dual write), ack; faults
"""
