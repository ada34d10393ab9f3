"""What the tests and bench/ share: the sandbox, the function as a functions-framework
process, the world they make together, the Firestore emulator, the official reference
material, a fake clock. Pytest fixtures over these live in tests/conftest.py."""
