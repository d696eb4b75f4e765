"""A local SMTP server that delivers nothing: every message it accepts is written to a Maildir.

    python deploy/local/smtp_sink.py --dir .run/mail            # 127.0.0.1:$SMTP_PORT (1025)
    python deploy/local/smtp_sink.py --port 2525 --dir /tmp/mail

Each message is one file under ``<dir>/new/`` (open it with any mail reader, or ``cat`` it).
SIGTERM or Ctrl-C stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
from pathlib import Path

from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import SMTP


async def serve(host: str, port: int, maildir: Path) -> None:
    loop = asyncio.get_running_loop()
    handler = Mailbox(maildir)
    server = await loop.create_server(lambda: SMTP(handler, hostname="smtp-sink"), host, port)
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    print(f"SMTP sink on {host}:{port}, writing messages to {maildir / 'new'}", flush=True)
    try:
        await stop.wait()
    finally:
        server.close()
        await server.wait_closed()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=os.environ.get("SMTP_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("SMTP_PORT") or 1025))
    parser.add_argument("--dir", required=True, type=Path, help="the Maildir to write to")
    args = parser.parse_args(argv)
    maildir = args.dir.resolve()
    # mailbox.Maildir makes new/, cur/ and tmp/ only when the folder itself is missing: an
    # empty folder that already exists (a container's volume) would refuse every message.
    for sub in ("new", "cur", "tmp"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    asyncio.run(serve(args.host, args.port, maildir))


if __name__ == "__main__":
    main()
