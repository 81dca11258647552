// An app behind Sekisho's proxy that says which of its routes answered a request, so a test can
// compare that with the skip_auth rule Sekisho applied. Express's router matches the path as
// sent: not decoded, dot segments not resolved, repeated slashes not merged, case ignored.
//
// Usage: node server.js  (prints "listening on PORT" once it accepts connections)

import express from 'express';

const app = express();

const answer = (route) => (req, res) => {
  res.json({ route, path: req.originalUrl });
};

app.use('/api/v4', answer('api'));
app.use('/hooks', answer('hooks'));
app.use('/admin', answer('admin'));
app.use(answer('other'));

const server = app.listen(0, '127.0.0.1', () => {
  console.log(`listening on ${server.address().port}`);
});
