"""An AMQP consumer that is not switchboard code: reads one message from a
switchboard queue with pika, decodes it with the published proto, acks it,
and prints what it saw as one JSON object."""
import argparse
import json
import sys

import pika
from switchboard.v1 import event_pb2


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--queue", required=True)
    args = parser.parse_args()
    connection = pika.BlockingConnection(
        pika.ConnectionParameters(host="127.0.0.1", port=args.port))
    channel = connection.channel()
    for method, props, body in channel.consume(args.queue, inactivity_timeout=30):
        if method is None:
            print("no message within 30 s", file=sys.stderr)
            return 1
        event = event_pb2.Event()
        event.ParseFromString(body)
        channel.basic_ack(method.delivery_tag)
        # "application/x-protobuf; proto=switchboard.v1.Event"
        media_type, *parameters = props.content_type.split(";")
        parameters = dict(p.strip().split("=", 1) for p in parameters)
        print(json.dumps({
            "media_type": media_type.strip(),
            "message_id": props.message_id,
            "type": props.type,
            "app_id": props.app_id,
            "timestamp": props.timestamp,
            "delivery_mode": props.delivery_mode,
            "schema": parameters.get("proto"),
            "event_id": event.id,
            "event_type": event.type,
            "event_source": event.source,
            "subject": event.subject,
            "link_id": event.link_status.link_id,
            "link_state": event_pb2.LinkStatus.State.Name(event.link_status.state),
            "attribute": event.attributes["controller"],
            "time_seconds": event.time.seconds,
        }, sort_keys=True))
        break
    channel.cancel()
    connection.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
