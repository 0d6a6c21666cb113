-- wrk script: POST the body in $BODY_FILE with the v2 JSON produce content type.
local file = io.open(os.getenv("BODY_FILE"), "rb")
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = "application/vnd.kafka.json.v2+json"
wrk.path = os.getenv("PRODUCE_PATH") or "/topics/bench"
