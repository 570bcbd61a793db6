"""Attribute, value and instrument names of Celery's spans and metrics.

``celery.*`` attributes are upstream's and emitted in every mode. The ``messaging.*`` ones have
an old form (upstream's default) and a current one (``OTEL_SEMCONV_STABILITY_OPT_IN=messaging``);
``/dup`` emits both.
"""

from __future__ import annotations

from typing import Final

# celery's own (every mode)
CELERY_ACTION: Final = "celery.action"
CELERY_TASK_NAME: Final = "celery.task_name"
CELERY_STATE: Final = "celery.state"
CELERY_RETRY_REASON: Final = "celery.retry.reason"
CELERY_HOSTNAME: Final = "celery.hostname"
CELERY_RETRIES: Final = "celery.retries"
CELERY_TIMELIMIT: Final = "celery.timelimit"
CELERY_DELIVERY_INFO: Final = "celery.delivery_info"
APPLY_ASYNC: Final = "apply_async"
RUN: Final = "run"
REVOKED: Final = "REVOKED"

# both forms
MESSAGING_MESSAGE_ID: Final = "messaging.message.id"

# old (default), as upstream
MESSAGING_DESTINATION: Final = "messaging.destination"
MESSAGING_DESTINATION_KIND: Final = "messaging.destination_kind"
MESSAGING_CONVERSATION_ID: Final = "messaging.conversation_id"

# new (current messaging conventions)
MESSAGING_SYSTEM: Final = "messaging.system"
CELERY: Final = "celery"
MESSAGING_DESTINATION_NAME: Final = "messaging.destination.name"
MESSAGING_MESSAGE_CONVERSATION_ID: Final = "messaging.message.conversation_id"
MESSAGING_OPERATION_TYPE: Final = "messaging.operation.type"
MESSAGING_OPERATION_NAME: Final = "messaging.operation.name"
ERROR_TYPE: Final = "error.type"
SEND: Final = "send"
PROCESS: Final = "process"

# Request fields upstream copies onto the run span as ``celery.<field>`` when set (not None, not
# ""); ``id``, ``correlation_id``, ``routing_key``, ``delivery_info``, ``retries``, ``timelimit``
# and ``origin`` are handled on their own.
PLAIN_REQUEST_FIELDS: Final = (
    "compression",
    "countdown",
    "eta",
    "exchange",
    "expires",
    "hostname",
    "priority",
    "queue",
    "reply_to",
    "serializer",
)

# metrics: the messaging conventions' (every mode) and upstream's task runtime (old, dup)
SENT_MESSAGES: Final = "messaging.client.sent.messages"
CONSUMED_MESSAGES: Final = "messaging.client.consumed.messages"
OPERATION_DURATION: Final = "messaging.client.operation.duration"
PROCESS_DURATION: Final = "messaging.process.duration"
TASK_RUNTIME: Final = "flower.task.runtime.seconds"
