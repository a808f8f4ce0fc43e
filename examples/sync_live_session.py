"""A Live session from synchronous code (a script, a notebook cell).

GEMINI_BASE_URL=http://127.0.0.1:8123 python examples/sync_live_session.py
"""

from api_gemini import Client
from api_gemini.websocket import ModelTurn

with Client() as client:
    model = client.models().by_name("gemini-live-2.5-flash-preview")
    with model.connect({"responseModalities": ["TEXT"]}) as session:
        for prompt in ("echo: first question", "echo: second question", "recall"):
            session.send_text(prompt)
            answer = "".join(
                event.text for event in session.receive_turn() if isinstance(event, ModelTurn)
            )
            print(f"{prompt!r} -> {answer!r}")
