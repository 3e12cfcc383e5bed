/** The whole schema, one module per service. */
export * from './tenant.js';
export * from './auth.js';
export * from './provider.js';
export * from './chat.js';
export * from './chat-messages.js';
export * from './memory.js';
