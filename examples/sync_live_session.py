"""A Live session from synchronous code (a script, a notebook cell).

GEMINI_BASE_URL=http://127.0.0.1:8123 GEMINI_API_KEY=any-key python examples/sync_live_session.py
"""

from api_gemini import Client
from api_gemini.websocket import ModelTurn, OutputTranscription

with Client() as client:
    model = client.models.by_name("gemini-3.8-live")
    with model.connect() as session:
        for prompt in ("echo: first question", "echo: second question", "recall"):
            session.send_text(prompt)
            answer = "".join(
                event.text
                for event in session.receive_turn()
                if isinstance(event, ModelTurn | OutputTranscription)
            )
            print(f"{prompt!r} -> {answer!r}")
