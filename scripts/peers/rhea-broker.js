// An in-memory AMQP 1.0 broker on npm rhea and ws: the tests' peer for AMQP over WebSocket, which
// RabbitMQ 3.x lacks. peers.sh starts it with these variables, everything on 127.0.0.1:
//   AMQPS_PORT  TLS, a client certificate from $PKI/ca.pem required; SASL EXTERNAL, PLAIN or ANONYMOUS
//   AMQP_PORT   plain TCP; SASL PLAIN or ANONYMOUS
//   WS_PORT     AMQP over WebSocket (subprotocol "amqp"); WSS_PORT the same over TLS, client certificate required
//   EXPIRED_PORT, WRONGHOST_PORT, ROGUE_PORT: TLS with a bad server certificate (expired, another host name,
//               an unknown CA) and no client certificate asked for: a client must refuse them
//   PKI         the directory of the test PKI (peers.sh pki)
// The PLAIN user is gwuser/gwpass. Every address is a queue, made when first named.
"use strict";
const fs = require("fs");
const https = require("https");
const rhea = require("rhea");
const { WebSocketServer } = require("ws");

const HOST = "127.0.0.1";
const env = (name) => {
  if (!process.env[name]) throw new Error(`${name} is not set`);
  return process.env[name];
};
const pki = (file) => fs.readFileSync(`${env("PKI")}/${file}`);
const mutualTLS = { key: pki("server.key"), cert: pki("server.pem"), ca: pki("ca.pem"), requestCert: true, rejectUnauthorized: true };

const broker = rhea.create_container({ id: "edgegw-test-broker" });
broker.sasl_server_mechanisms.enable_plain((user, pass) => user === "gwuser" && pass === "gwpass");
broker.sasl_server_mechanisms.enable_anonymous();

// queues: address -> { messages, consumers }; a consumer is a rhea sender link (the client's receiver).
const queues = new Map();
function queue(address) {
  if (!queues.has(address)) queues.set(address, { messages: [], consumers: [] });
  return queues.get(address);
}
function deliver(address) {
  const q = queue(address);
  for (let sent = true; sent && q.messages.length; ) {
    sent = false;
    for (const c of q.consumers) {
      if (q.messages.length && c.sendable()) {
        c.send(q.messages.shift());
        sent = true;
      }
    }
  }
}
function forget(link) {
  for (const q of queues.values()) q.consumers = q.consumers.filter((c) => c !== link);
}

// go-amqp refuses an attach that answers other settlement modes than it asked for, and waits forever for
// a terminus that is not set: echo the modes, and set the source or target on every attach.
function sameModes(link) {
  link.local.attach.snd_settle_mode = link.remote.attach.snd_settle_mode;
  link.local.attach.rcv_settle_mode = link.remote.attach.rcv_settle_mode;
}
broker.on("sender_open", (ctx) => {
  const link = ctx.sender;
  sameModes(link);
  const source = link.remote.attach.source || {};
  link.queueName = source.dynamic ? broker.generate_uuid() : source.address;
  link.set_source({ address: link.queueName });
  queue(link.queueName).consumers.push(link);
  deliver(link.queueName);
});
broker.on("receiver_open", (ctx) => {
  const link = ctx.receiver;
  sameModes(link);
  const target = link.remote.attach.target || {};
  link.set_target({ address: target.address });
});
broker.on("sendable", (ctx) => deliver(ctx.sender.queueName));
broker.on("message", (ctx) => {
  const target = ctx.receiver.remote.attach.target || {};
  const address = target.address || ctx.message.to;
  queue(address).messages.push(ctx.message);
  deliver(address);
});
broker.on("sender_close", (ctx) => forget(ctx.sender));
broker.on("disconnected", (ctx) => {
  for (const q of queues.values()) q.consumers = q.consumers.filter((c) => c.connection !== ctx.connection);
});
broker.on("connection_open", (ctx) => console.log(`open ${ctx.connection.remote.open.container_id} as ${ctx.connection.sasl_user || "-"}`));
broker.on("error", (e) => console.log(`error: ${e && e.message}`));

const port = (name) => Number(env(name));
broker.listen({ host: HOST, port: port("AMQPS_PORT"), transport: "tls", enable_sasl_external: true, ...mutualTLS });
broker.listen({ host: HOST, port: port("AMQP_PORT") });
const amqpOnly = (protocols) => (protocols.has("amqp") ? "amqp" : false); // refuses AMQPWSB10, as the tests expect
new WebSocketServer({ host: HOST, port: port("WS_PORT"), handleProtocols: amqpOnly })
  .on("connection", (ws) => broker.websocket_accept(ws));
const tlsServer = https.createServer(mutualTLS).listen(port("WSS_PORT"), HOST);
new WebSocketServer({ server: tlsServer, handleProtocols: amqpOnly }).on("connection", (ws) => broker.websocket_accept(ws));
for (const [name, cert] of [["EXPIRED_PORT", "expired-server"], ["WRONGHOST_PORT", "wronghost-server"], ["ROGUE_PORT", "rogue-server"]]) {
  broker.listen({ host: HOST, port: port(name), transport: "tls", key: pki(`${cert}.key`), cert: pki(`${cert}.pem`) });
}
console.log(`rhea broker on ${HOST}: amqps ${env("AMQPS_PORT")}, amqp ${env("AMQP_PORT")}, ws ${env("WS_PORT")}, ` +
  `wss ${env("WSS_PORT")}; bad certificates on ${env("EXPIRED_PORT")}, ${env("WRONGHOST_PORT")}, ${env("ROGUE_PORT")}`);
process.on("SIGTERM", () => process.exit(0));
