"""Run: python -m reference_engine --host 127.0.0.1 --port 8001 --models a,b"""

from reference_engine.cli import main

if __name__ == "__main__":
    main()
