/** The query server (`strata serve`): Chroma's HTTP API v2 over the current versions. Entered through here. */
export { type ServeOptions, StrataServer } from './server.js';
