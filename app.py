"""Start the chat: `python app.py` builds index/ from data/articles on first run, then serves
the chat on http://127.0.0.1:7860 (see `python app.py --help` for --host, --port, --llm ...).
"""

from qa.chat_ui import main

if __name__ == "__main__":
    main()
