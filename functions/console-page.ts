/** GET /console: the operators' web console's page, no token (lib/http/console.ts). */
import middy from '@middy/core';
import { chainOptions, edge } from '../lib/http/chain.ts';
import { consoleFile } from '../lib/http/console.ts';

export const consolePage = async () => consoleFile('index.html');

export const handler = middy(consolePage, chainOptions).use(edge());
