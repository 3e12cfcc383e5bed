/** The protocol for a channel's wire format. */
import type { Channel } from '../../channels/channel.js';
import { openAIProtocol, type Protocol } from './protocol.js';
import { azureProtocol } from './azure-protocol.js';
import { anthropicProtocol } from './anthropic-protocol.js';

export function protocolFor(channel: Channel): Protocol {
  switch (channel.format) {
    case 'azure':
      return azureProtocol;
    case 'openai':
      return openAIProtocol;
    case 'anthropic':
      return anthropicProtocol;
  }
}
