/** The server's public surface: createServer and the progress hub that feeds model-loading events to the page. */
export { createServer, type ImgTokensServer, type ServerOptions } from './app.js';
export { ProgressHub } from './events.js';
