"""WeCom (企业微信) transport: message crypto, the API client, the callback server, robots.

WeCom is one more adapter over the channel-neutral command core, store and outbox:

- ``crypto``   the callback message encryption (signature, AES-256-CBC, corp id check)
- ``api``      async client for gettoken, message/send and webhook/send (errcode handling)
- ``callback`` aiohttp server: URL verification, encrypted message receipt -> CommandCore
- ``render``   WeCom markdown (one bold run per title) split under 4096 bytes
- ``robots``   group robots from the config: chats, filters, the 20/min sender with batching
- ``channel``  service components (app delivery worker, robot delivery worker, callback)
"""
