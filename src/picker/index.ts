export type { BlockReceipt, BlockRef, PickerLayout, PickerOptions } from './picker.js';
export { PiecePicker } from './picker.js';
