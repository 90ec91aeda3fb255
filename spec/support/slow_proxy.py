# A TCP proxy on 127.0.0.1 whose connections take a while to open: each one
# accepted waits argv[3] seconds before the proxy connects to the upstream
# 127.0.0.1:argv[1], so a TLS handshake through it lasts that long (a server
# far away). Prints its port, then serves for argv[2] seconds.
import asyncio, sys

UPSTREAM, LIFE, DELAY = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])


async def pipe(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


async def handle(reader, writer):
    await asyncio.sleep(DELAY)
    try:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", UPSTREAM)
    except OSError:
        writer.close()
        return
    await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await asyncio.sleep(LIFE)


asyncio.run(main())
