"""The MongoDB store with the Redis engine: the whole many-host setup (two
sss-server hosts, redis-server, FerretDB). A session subscribed on h1 resumes
on h2 with its subscriptions from MongoDB, and a publish on h1 reaches it on
h2 through Redis; the uid the record keeps is the one Redis gave, the same on
every host. FerretDB or redis-server missing is a failure: tools/bootstrap.sh
installs both."""
import asyncio
import atexit
import json
import os
import secrets
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sss_harness as h  # noqa: E402
import svc_ferretdb  # noqa: E402
import svc_redis  # noqa: E402
from test_store_mongo import begin, host, publish, rx_until, sub, subs_of, wait_for  # noqa: E402


async def run(c):
    if not c.ok(svc_ferretdb.installed(), "FerretDB is installed (tools/ferretdb.sh install)"):
        return
    import pymongo
    ferret = svc_ferretdb.FerretDB()
    atexit.register(svc_ferretdb.stop_all)
    redis = svc_redis.Redis(persist=False)
    try:
        ferret.start()
        dbname = "sss_test_" + secrets.token_hex(4)
        client = pymongo.MongoClient(ferret.url(""), serverSelectionTimeoutMS=int(h.T(5000)))
        col = client[dbname].sessions
        eng = ["--engine", "redis", "--redis", redis.url]
        h1 = await host(c, ferret, dbname, "h1", *eng)
        h2 = await host(c, ferret, dbname, "h2", *eng)
        pub, _ = await begin(h1, None, "pub")
        a, r = await begin(h1, "rs-1", "ann")
        await sub(a, "news", 1)
        await publish(pub, "news", "n1", 10)
        f1 = await rx_until(a, lambda f: f.get("sys") == 8)
        await a.close()
        doc = await wait_for(lambda: (d := col.find_one({"_id": "ann|rs-1"})) and not d["online"]
                             and subs_of(d).get("news") and d)
        c.eq(subs_of(doc or {}).get("news"), f1["uid"], "h1 recorded the uid Redis gave n1")
        await publish(pub, "news", "n2", 11)  # while the client is away
        b, r = await begin(h2, "rs-1", "ann")
        c.eq(r.get("session"), "rs-1", "h2: BEGIN reply carries the session")
        # The BEGIN reply comes once h2 listens to the restored channel: the
        # very next publish on h1 reaches the client on h2, and SYNC from the
        # uid it had fills in n2.
        await publish(pub, "news", "n3", 100)  # on h1: to h2 through Redis
        try:
            got = [await rx_until(b, lambda f: f.get("sys") == 8, h.T(20))]
        except asyncio.TimeoutError:
            got = []
        c.ok(got and got[0]["channel"] == "news" and got[0]["msg"] == "n3",
             "the first publish on h1 after the BEGIN reply reaches the session resumed on h2 "
             "(subscriptions from MongoDB)", str(got))
        f3 = got[-1] if got else {"uid": None}
        await b.close()
        doc = await wait_for(lambda: (d := col.find_one({"_id": "ann|rs-1"})) and d["host"] == "h2"
                             and not d["online"] and subs_of(d).get("news") == f3["uid"] and d)
        c.ok(doc, "h2 recorded the uid its client reached (the same uid space as h1)",
             str(col.find_one({"_id": "ann|rs-1"})))
        await pub.close()
        await h1.stop()
        await h2.stop()
        client.close()
    finally:
        svc_ferretdb.stop_all()
        redis.close()


if __name__ == "__main__":
    h.main(run, "test_store_mongo_redis")
