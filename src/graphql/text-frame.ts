/**
 * One final, unmasked WebSocket text frame (RFC 6455 §5.2) carrying the chunks' bytes in order: what a server
 * sends, built in one buffer so the socket takes it in one write.
 */
export function textFrame(chunks: readonly Buffer[]): Buffer {
  let length = 0;
  for (const chunk of chunks) length += chunk.length;
  const headerLength = length < 126 ? 2 : length < 65_536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(headerLength + length);
  frame[0] = 0x81; // FIN, opcode 1 (text)
  if (length < 126) {
    frame[1] = length;
  } else if (length < 65_536) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    frame.writeBigUInt64BE(BigInt(length), 2);
  }
  let offset = headerLength;
  for (const chunk of chunks) offset += chunk.copy(frame, offset);
  return frame;
}
