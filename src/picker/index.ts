export type { BlockReceipt, BlockRef, PickerLayout, PickerOptions, StreamWindow } from './picker.js';
export { PiecePicker, PRIORITY_HIGH, PRIORITY_NORMAL, PRIORITY_SKIP } from './picker.js';
