// Preloaded into twilio-run by sandbox/launch.ts (`node -r`): twilio-run listens on every interface
// (`app.listen(port)`) and has no option to say otherwise, so a server given a port alone listens on
// LISTEN_HOST instead: loopback (127.0.0.1) unless `npm start -- --host <address>` asks for another.
const net = require('node:net');

const host = process.env.LISTEN_HOST || '127.0.0.1';
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function listenOnHost(...args) {
  if (typeof args[0] === 'number' && (args.length === 1 || typeof args[1] === 'function')) args.splice(1, 0, host);
  return listen.apply(this, args);
};
