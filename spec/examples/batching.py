"""Fan out many chat completions client-side, within your key's rate limits."""

import asyncio
import os

from openai import AsyncOpenAI

# base_url and api_key come from OPENAI_BASE_URL and OPENAI_API_KEY. The client
# retries a 429 (and a 5xx) up to max_retries times, waiting what Retry-After says.
client = AsyncOpenAI(max_retries=8)
MODEL = os.environ.get("OPENAI_MODEL", "reference-chat")
MAX_IN_FLIGHT = 16
TOKENS_PER_REQUEST = 200  # your estimate of prompt + answer tokens


async def in_flight_limit() -> int:
    """No more requests in flight than the key's remaining budget covers right now."""
    raw = await client.models.with_raw_response.list()
    requests_left = int(raw.headers["x-ratelimit-remaining-requests"])
    tokens_left = int(raw.headers["x-ratelimit-remaining-tokens"])
    return max(1, min(MAX_IN_FLIGHT, requests_left, tokens_left // TOKENS_PER_REQUEST))


async def complete(prompt: str, slots: asyncio.Semaphore) -> tuple[str, int]:
    """One answer, and how many retries the SDK needed to get it."""
    async with slots:
        raw = await client.chat.completions.with_raw_response.create(
            model=MODEL, messages=[{"role": "user", "content": prompt}], max_tokens=32
        )
    return raw.parse().choices[0].message.content or "", raw.retries_taken


async def main(prompts: list[str]) -> None:
    slots = asyncio.Semaphore(await in_flight_limit())
    results = await asyncio.gather(*(complete(prompt, slots) for prompt in prompts))
    for prompt, (answer, _) in zip(prompts, results, strict=True):
        print(f"{prompt!r} -> {answer[:40]!r}")
    print(f"{len(results)} answers, {sum(retries for _, retries in results)} retries")


if __name__ == "__main__":
    count = int(os.environ.get("PROMPTS", "20"))
    asyncio.run(main([f"Summarise item {i} in one line." for i in range(count)]))
