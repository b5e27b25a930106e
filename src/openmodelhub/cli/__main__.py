from openmodelhub.cli.main import app

app(prog_name="omh")
