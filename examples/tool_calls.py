"""Tool (function) calls: the model asks, your code answers, the model goes on.

On ``gemini-3.8-live`` functions are NON_BLOCKING by default: the model keeps talking
while your code runs, and the response's ``scheduling`` says when it speaks about the
result (``"INTERRUPT"``: now; ``"WHEN_IDLE"``: after what it is saying; ``"SILENT"``:
never, it only learns it). ``behavior="BLOCKING"`` on the declaration makes it wait.

GEMINI_BASE_URL=http://127.0.0.1:8123 GEMINI_API_KEY=any-key python examples/tool_calls.py
"""

import asyncio
from typing import Any

from api_gemini import AsyncClient
from api_gemini.types import FunctionDeclaration, FunctionResponse, Tool
from api_gemini.websocket import LiveConnectConfig, OutputTranscription, ToolCall

WEATHER = Tool(
    function_declarations=[
        FunctionDeclaration(
            name="get_weather",
            description="The current weather in a city.",
            behavior="NON_BLOCKING",  # the default of gemini-3.8-live, said explicitly
            parameters={
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        )
    ]
)


def get_weather(city: str) -> dict[str, Any]:
    return {"city": city, "sky": "clear", "celsius": 21}


async def main() -> None:
    async with AsyncClient() as client:
        model = client.models.by_name("gemini-3.8-live")
        async with await model.connect(LiveConnectConfig(tools=[WEATHER])) as session:
            # The emulator calls a declared function when the prompt names it.
            await session.send_text("call get_weather for Paris")
            answers: list[FunctionResponse] = []
            # The model asks, and goes on talking while the function runs.
            async for event in session.receive_turn():
                if isinstance(event, ToolCall):
                    for call in event.function_calls:
                        print(f"model calls {call.name}({call.args})")
                        result = get_weather(**(call.args or {}))
                        answers.append(
                            FunctionResponse(
                                id=call.id,
                                name=call.name,
                                response=result,
                                scheduling="WHEN_IDLE",  # speak about it once idle
                            )
                        )
                elif isinstance(event, OutputTranscription):  # the text of the audio
                    print("model:", event.text)
            await session.send_tool_response(answers)
            async for event in session.receive_turn():  # the answer with the result
                if isinstance(event, OutputTranscription):
                    print("model:", event.text)

        # Over HTTP the call is a part of the answer instead.
        http_model = client.models.by_name("gemini-2.5-flash")
        answer = await http_model.generate_content(
            {
                "contents": [{"role": "user", "parts": [{"text": "call get_weather"}]}],
                "tools": [{"functionDeclarations": [{"name": "get_weather"}]}],
            }
        )
        content = answer.candidates[0].content
        assert content is not None
        print("over HTTP:", content.parts[0].function_call)


asyncio.run(main())
