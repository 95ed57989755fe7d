"""The 100-row context shared by both template bench apps (same data, built once)."""
TITLE = "Users & <friends>"
ROWS = [{"id": i, "name": f"user {i} <x>", "email": f"u{i}@example.com", "score": i * 1.5}
        for i in range(100)]
