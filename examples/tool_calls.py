"""Tool (function) calls: the model asks, your code answers, the model goes on.

GEMINI_BASE_URL=http://127.0.0.1:8123 python examples/tool_calls.py
"""

import asyncio
from typing import Any

from api_gemini import AsyncClient
from api_gemini.types import FunctionDeclaration, FunctionResponse, Tool
from api_gemini.websocket import LiveConnectConfig, ModelTurn, ToolCall, TurnComplete

WEATHER = Tool(
    function_declarations=[
        FunctionDeclaration(
            name="get_weather",
            description="The current weather in a city.",
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
        model = client.models().by_name("gemini-3.8-live")
        async with await model.connect(LiveConnectConfig(tools=[WEATHER])) as session:
            # The emulator calls a declared function when the prompt names it.
            await session.send_text("call get_weather for Paris")
            async for event in session:
                if isinstance(event, ToolCall):
                    answers = []
                    for call in event.function_calls:
                        print(f"model calls {call.name}({call.args})")
                        result = get_weather(**(call.args or {}))
                        answers.append(
                            FunctionResponse(id=call.id, name=call.name, response=result)
                        )
                    await session.send_tool_response(answers)
                elif isinstance(event, ModelTurn):
                    print("model:", event.text)
                elif isinstance(event, TurnComplete):
                    break

        # Over HTTP the call is a part of the answer instead.
        http_model = client.models().by_name("gemini-2.5-flash")
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
