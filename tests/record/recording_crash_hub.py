"""Child process of test_recording_crash: a hub recording one camera continuously with short
segments and fragments, so the test can SIGKILL it mid-segment.
``python recording_crash_hub.py DATA URL``."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from mediaserver.app import Hub
from tests.record.test_recording_crash import crash_settings


async def main(data_dir: str, url: str) -> None:
    hub = Hub(crash_settings(Path(data_dir), url))
    await hub.start()
    print("READY", flush=True)
    await asyncio.sleep(3600)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:3]))
