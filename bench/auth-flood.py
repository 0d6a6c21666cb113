#!/usr/bin/env python3
"""A flood of wrong secrets against `runnel serve --auth required`: 150 concurrent requests with random secrets for a
known key id, then the first request of another key and of the attacked key itself, and an unknown key id; prints
how long each took. Usage: bench/auth-flood.py RUNNEL_BINARY (needs requests: the tests' .venv has it)."""
import subprocess, sys, json, time, tempfile, threading, requests, re, os, shutil
binary = sys.argv[1]
d = tempfile.mkdtemp(dir=os.getcwd())
def key(su):
    return json.loads(subprocess.run([binary, "api-key", "create", "--data-dir", d, "-o", "json"] + (["--super-user"] if su else []), capture_output=True, text=True).stdout)
victim, other = key(False), key(True)
log = open(d + ".log", "w")
p = subprocess.Popen([binary, "serve", "--data-dir", d, "--proxy-port", "0", "--connect-port", "0", "--auth", "required"], stdout=log, stderr=log)
url = None
while not url:
    m = re.search(r"proxy=(http://\S+)", open(d + ".log").read()); url = m and m.group(1); time.sleep(0.1)
def wrong(i): requests.get(url + "/v3/clusters", auth=(victim["key"], f"w{i}"))
ts = [threading.Thread(target=wrong, args=(i,)) for i in range(150)]
t0 = time.time(); [t.start() for t in ts]; time.sleep(0.3)
s = time.time(); r = requests.get(url + "/v3/clusters", auth=(other["key"], other["secret"])); other_t = time.time() - s
s = time.time(); r2 = requests.get(url + "/v3/clusters", auth=(victim["key"], victim["secret"])); victim_t = time.time() - s
[t.join() for t in ts]; flood = time.time() - t0
s = time.time(); requests.get(url + "/v3/clusters", auth=("NOSUCHKEY0000000", "x")); unknown = time.time() - s
print(f"{binary}: other key first request {other_t*1000:.0f} ms ({r.status_code}), victim's own key {victim_t*1000:.0f} ms ({r2.status_code}), flood of 150 done in {flood:.1f} s, unknown id {unknown*1000:.1f} ms")
p.terminate(); p.wait(); shutil.rmtree(d); os.remove(d + ".log")
