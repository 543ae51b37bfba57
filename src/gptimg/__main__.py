from gptimg.cli import run

run()
