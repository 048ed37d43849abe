/**
 * The bench's yardstick: Express 5 + helmet answering a JSON hello, the least any Express service with
 * fedproxy's security headers does per request. Run as its own process, like fedproxy, so the two are
 * measured the same way. Listens on 127.0.0.1:$PORT and prints `listening` when ready.
 */
import express from 'express';
import helmet from 'helmet';

const app = express();
app.disable('x-powered-by');
app.use(helmet());
app.get('/', (_req, res) => {
  res.json({ hello: 'world' });
});
const server = app.listen(Number(process.env.PORT), '127.0.0.1', () => console.log('listening'));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
