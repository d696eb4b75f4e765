"""nameko's ``rpc`` entrypoint, declaring ``rpc-<service>`` with the configured queue type.

Every RPC method of a service uses this ``rpc`` (``from chassis.rpc import rpc``), so that its
queue is a quorum queue when ``QUEUE_TYPE`` is ``quorum`` (see ``chassis.queues``).
"""

from __future__ import annotations

from nameko import rpc as nameko_rpc

from chassis.queues import apply_queue_type


class RpcConsumer(nameko_rpc.RpcConsumer):
    """The one consumer of a service's RPC queue, declaring it with the configured type."""

    @property
    def sharing_key(self) -> type:
        # Shared under nameko's own key: a method decorated with nameko's ``rpc`` in the same
        # service then finds this consumer instead of starting a second one on ``rpc-<service>``,
        # which would take half of the calls and answer them MethodNotFound.
        return nameko_rpc.RpcConsumer

    def setup(self) -> None:
        super().setup()
        apply_queue_type(self.queue, self.container.config)


class Rpc(nameko_rpc.Rpc):
    rpc_consumer = RpcConsumer()


rpc = Rpc.decorator
