"""信宝 Xinbao mobile app (Flet 1.0): talks to the platform over HTTP and SSE only."""
